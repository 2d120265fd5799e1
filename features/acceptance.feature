Feature: Opt-in anonymous usage telemetry (rtb-telemetry v0.1 acceptance)
  Tool authors record events through a telemetry context. Users decide
  whether anything is collected; when they have not opted in, nothing is.

  Scenario Outline: S1 — record with Disabled policy emits nothing
    Given a context for tool "mytool" version "1.0.0" that is <how> with a memory sink
    When the tool records "build"
    And the tool flushes
    Then the memory sink holds 0 events

    Examples:
      | how                                  |
      | disabled by the run-time policy      |
      | disabled at compile time             |
      | built without any policy             |

  Scenario Outline: S2 — record with Enabled policy + MemorySink emits one event
    Given a context for tool "mytool" version "1.0.0" that is <how> with a memory sink
    When the tool records "build"
    Then the memory sink holds 1 event
    And event 1 is "build" from tool "mytool" version "1.0.0"
    And event 1 carries the salted machine id

    Examples:
      | how                                  |
      | enabled by the run-time policy       |
      | enabled at compile time              |

  Scenario: S3 — record_with_attrs sets the attrs map on the event
    Given a context for tool "mytool" version "1.0.0" that is enabled by the run-time policy with a memory sink
    When the tool records "build" with the attributes
      | key     | value |
      | outcome | ok    |
      | cached  | true  |
    Then the memory sink holds 1 event
    And event 1 has exactly the attributes
      | key     | value |
      | outcome | ok    |
      | cached  | true  |

  Scenario: S4 — Two sequential records are observable as two events in registration order
    Given a context for tool "mytool" version "1.0.0" that is enabled by the run-time policy with a memory sink
    When the tool records "first"
    And the tool records "second"
    Then the memory sink holds 2 events
    And the events are named "first", "second" in that order

  Scenario: S5 — FileSink writes JSONL lines to disk
    Given a context for tool "mytool" version "1.0.0" that is enabled by the run-time policy with a file sink at "nested/dir/events.jsonl"
    When the tool records "first"
    And the tool records "second"
    Then the file holds 2 lines
    And every line is one JSON event
    And the file's events are named "first", "second" in that order

  Scenario: S6 — MachineId::derive with a fixed salt returns the same hash across two calls
    When the machine id is derived with the salt "mytool-telemetry-v1"
    And the machine id is derived with the salt "mytool-telemetry-v1" again
    Then both ids are the same 64-character lowercase hex string
