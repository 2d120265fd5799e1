//! Starting the uploader when an upload is due, and uploading on demand:
//! with `upload` only (its twin below does nothing).

#[cfg(feature = "upload")]
mod on {
    use std::time::Duration;

    use super::super::Telemetry;
    use crate::TelemetryError;
    use crate::consent::ConsentStore;
    use crate::pipeline::plan::Plan;
    use crate::pipeline::plan::Recording;
    use crate::pipeline::upload::UploadReport;
    use crate::pipeline::upload::process;

    /// In a process started as the uploader: uploads and exits, never
    /// returning into the tool.
    pub(in crate::telemetry) fn run_uploader_if_started(plan: &Plan, store: Option<&ConsentStore>) {
        if process::started_as_uploader(&plan.inputs.prefix) {
            if !plan.may_deliver() {
                std::process::exit(0); // nothing to upload in such a build
            }
            process::run(plan, store);
        }
    }

    /// Deletes spooled records older than the age bound, telemetry on or
    /// off (deleting is all an off run does to the spool); counted in
    /// `status` by a run with telemetry on.
    pub(in crate::telemetry) fn expire(plan: &Plan, store: &ConsentStore) {
        if !plan.may_deliver() {
            return;
        }
        let mut spool = crate::pipeline::spool::Spool::new(store.data_dir());
        spool.max_age = plan.inputs.delivery.max_age;
        let expired = spool.expire();
        if expired > 0 && plan.on() {
            spool.update_state(Duration::from_millis(50), |state| {
                state.expired = state.expired.saturating_add(expired);
            });
        }
    }

    /// What starts the uploader from a panic hook, when events go to a
    /// collector and uploads are detached.
    pub(in crate::telemetry) fn launcher(plan: &Plan) -> Option<crate::panics::Launch> {
        if !plan.inputs.delivery.detached {
            return None;
        }
        let (prefix, spool) = (plan.inputs.prefix.clone(), plan.spool()?);
        Some(Box::new(move |patience| {
            let _ = process::spawn(&prefix, &spool, patience);
        }))
    }

    /// The uploader's variable, if someone set it by hand (it changes
    /// nothing, and `status` says so).
    pub(in crate::telemetry) fn marker_set_by_hand(plan: &Plan) -> Option<String> {
        let variable = process::marker(&plan.inputs.prefix);
        plan.inputs.env.var(&variable).map(|_| variable)
    }

    impl super::super::Inner {
        /// As a run in report mode ends: if the spool holds something (a
        /// report this run sealed, or one an earlier upload could not
        /// deliver) and an upload is due, start the uploader. One listing
        /// of the spool; nothing when there is none.
        pub(in crate::telemetry) fn after_report(&self) {
            if !self.plan.inputs.delivery.detached {
                return;
            }
            let (Some(sink), Some(spool)) = (
                self.counting.and_then(crate::report::Counting::spool),
                self.plan.spool(),
            ) else {
                return;
            };
            if let Some(usage) = spool.usage()
                && usage.bytes > 0
                && spool.claim_upload(&usage.schedule)
            {
                sink.pause();
                let _ = process::spawn(&self.plan.inputs.prefix, &spool, Duration::from_millis(50));
            }
        }

        /// Where the recorder's events go.
        fn recording(&self) -> Option<&Recording> {
            Some(self.recorder()?.context.active()?.sink.inner())
        }
    }

    impl<C> Telemetry<C> {
        /// After a record: once per process, if events go to a collector
        /// and an upload is due, start the uploader.
        pub(in crate::telemetry) fn after_record(&self) {
            let inner = &*self.inner;
            if !inner.plan.inputs.delivery.detached {
                return;
            }
            let (Some(sink), Some(spool)) = (
                inner.recording().and_then(Recording::spool),
                inner.plan.spool(),
            ) else {
                return;
            };
            if sink.claim_upload_once()
                && let Err(e) =
                    process::spawn(&inner.plan.inputs.prefix, &spool, Duration::from_millis(50))
            {
                self.debug_problem(&e.one_line());
            }
        }

        /// Uploads what the spool holds now, on the calling thread
        /// (blocking, at most about 20 s): for long-running programs, and
        /// for tests.
        ///
        /// # Errors
        ///
        /// When telemetry is off, no collector is configured, or the upload
        /// failed (the events stay spooled).
        ///
        /// # Example
        ///
        /// ```no_run
        /// let telemetry = rtb_telemetry::Telemetry::builder("mydaemon", "1.0.0")
        ///     .endpoint("https://telemetry.example.com/v1/events")
        ///     .detached_upload(false) // a long-running program uploads itself
        ///     .init();
        /// telemetry.record("tick");
        /// if let Ok(report) = telemetry.upload_now() {
        ///     println!("{} events delivered", report.delivered);
        /// }
        /// ```
        #[cfg_attr(docsrs, doc(cfg(feature = "upload")))]
        pub fn upload_now(&self) -> Result<UploadReport, TelemetryError> {
            let inner = &*self.inner;
            let (Some(store), true) = (
                &inner.store,
                inner.recorder().is_some() || inner.counting.is_some(),
            ) else {
                return Err(TelemetryError::config(
                    "telemetry is off, so there is nothing to upload",
                    "enable telemetry first",
                ));
            };
            let counting = inner.counting.and_then(crate::report::Counting::spool);
            if let Some(sink) = inner.recording().and_then(Recording::spool).or(counting) {
                sink.pause();
            }
            process::upload_once(&inner.plan, store, Duration::ZERO)
        }
    }
}

#[cfg(not(feature = "upload"))]
impl super::Inner {
    /// Without `upload` there is no uploader to start.
    #[expect(
        clippy::unused_self,
        reason = "the twin of the `upload` build's, called the same way"
    )]
    pub(in crate::telemetry) fn after_report(&self) {}
}

#[cfg(not(feature = "upload"))]
impl<C> super::Telemetry<C> {
    /// Without `upload` there is no uploader to start.
    #[expect(
        clippy::unused_self,
        reason = "the twin of the `upload` build's, called the same way"
    )]
    pub(in crate::telemetry) fn after_record(&self) {}
}

#[cfg(feature = "upload")]
pub(super) use on::{expire, launcher, marker_set_by_hand, run_uploader_if_started};

#[cfg(not(feature = "upload"))]
pub(super) use off::{expire, launcher, marker_set_by_hand, run_uploader_if_started};

#[cfg(not(feature = "upload"))]
mod off {
    use crate::consent::ConsentStore;
    use crate::pipeline::plan::Plan;

    /// Without `upload` nothing is started as the uploader.
    pub(in crate::telemetry) fn run_uploader_if_started(_: &Plan, _: Option<&ConsentStore>) {}

    /// Without `upload` there is no spool to keep bounded.
    pub(in crate::telemetry) fn expire(_: &Plan, _: &ConsentStore) {}

    /// Without `upload` there is no uploader to start.
    pub(in crate::telemetry) fn launcher(_: &Plan) -> Option<crate::panics::Launch> {
        None
    }

    /// Without `upload` there is no uploader's variable.
    pub(in crate::telemetry) fn marker_set_by_hand(_: &Plan) -> Option<String> {
        None
    }
}
