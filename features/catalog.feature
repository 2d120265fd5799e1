@http
Feature: A declared catalogue — what a tool can send, said in types
  A tool declares every event it can send and the values of each attr. Its
  users read the same declaration; its collector checks what it receives
  against it, keeps what is declared and counts the rest.

  Scenario: K1 — the declaration is what `telemetry show --catalog` prints
    Given a tool "deployer" that declares catalogue version 2
    When the user runs `telemetry show --catalog`
    Then it lists the event "deploy" with attr "target" as "one of staging, production"
    And it lists the event "deploy" with attr "took" as "a duration, in whole milliseconds"
    And its `--json` form reads back as the tool's catalogue

  Scenario: K2 — a declared event reaches a collector that keeps it whole
    Given a tool "deployer" that declares catalogue version 2
    And the user has enabled telemetry and a collector is up
    When the tool records a "deploy" to "production" that took 1500 ms
    Then the collector receives 1 event marked with catalogue version 2
    And checked against the tool's `--json` catalogue, the collector keeps all of it

  Scenario: K3 — an older collector keeps what it knows of a newer client
    Given a tool "deployer" that declares catalogue version 2
    And the user has enabled telemetry and a collector is up
    And the collector knows only catalogue version 1
    When the tool records a "deploy" to "production" that took 20 ms
    And the tool records a "rollback"
    Then the collector keeps the "deploy" without its "took" attr
    And the collector counts 2 things it does not know, and refuses nothing
