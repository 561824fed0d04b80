@operations @smoke
Feature: Operations (nightly)
  Did the notifier run every hour of the look-back window (24 h unless the profile or
  --lookback-hours says otherwise), and did every run end well?
  Guide: Operations (nightly)

  Background:
    Given the deployment described by the profile

  Scenario: The rule fired every hour
    When the deployment has run on its schedule
    Then the rule fired once in every hour of the look-back window, and no invocation failed

  Scenario: Every hour's execution started on time and succeeded
    When the deployment has run on its schedule
    Then one state-machine execution started in the first minute of every hour, and all succeeded

  Scenario: The Lambda neither failed nor was throttled
    When the deployment has run on its schedule
    Then the Lambda reported no errors and no throttles over the look-back window

  Scenario: The Lambda's runs stay well inside its timeout
    When the deployment has run on its schedule
    Then the Lambda's longest run stayed below its timeout with the profile's headroom

  Scenario: Every run finished
    When the deployment has run on its schedule
    Then the notifier's log shows that every hourly run finished and none timed out

  Scenario: The database is not left running
    When the deployment has run on its schedule
    Then the database instance is stopped now, unless an hourly run is in progress
