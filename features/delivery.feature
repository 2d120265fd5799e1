@http
Feature: Local-first delivery — the network is never on a command's path
  With telemetry on and a collector configured, a command only appends to a
  spool on local disk; an uploader sends what was spooled later. Nothing is
  lost while the collector is down, within the spool's bounds.

  Scenario: D1 — offline, then online: the backlog arrives, each event once
    Given telemetry is enabled for "mytool" with a collector that is down
    When the tool records "build" in 3 separate runs
    Then the status says 3 events are waiting to be sent
    And the status names the failed upload
    When the collector comes back
    And the tool records "test" in 1 separate run
    Then the collector has received 4 events, each once
    And nothing is waiting in the spool

  Scenario: D2 — a full spool drops new events, counts them and says so
    Given telemetry is enabled for "mytool" with a collector that is down
    And the spool may hold 1500 bytes
    When the tool records "build" in 30 separate runs
    Then the spool holds at most 1500 bytes
    And the status says events were dropped because the spool was full

  Scenario: D3 — debug mode prints events, sends nothing, and shows what waits
    Given telemetry is enabled for "mytool" with a collector that is down
    When the tool records "build" in 2 separate runs
    And debug mode is turned on
    And the tool records "shown" in 1 separate run
    Then the status says 2 events are waiting to be sent
    And the status says events go to stderr only

  Scenario: D4 — `telemetry show` lists what waits exactly as it will be sent, and the last uploads
    Given telemetry is enabled for "mytool" with a collector that is down
    When the tool records "build" in 2 separate runs
    Then `telemetry show` lists 2 waiting events as the collector will receive them
    And `telemetry show` lists an upload that failed
    When the collector comes back
    And the tool records "test" in 1 separate run
    Then `telemetry show` lists nothing waiting
    And `telemetry show` lists an upload that delivered 3 events
    And the records `telemetry show` listed reached the collector byte for byte
