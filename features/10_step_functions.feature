@step_functions @smoke
Feature: Start/stop the database using Step Functions
  Start the instance, wait until it runs, run the notifier, always stop the instance.
  Guide: Start/stop the database using Step Functions > Database running on EC2

  Background:
    Given the deployment described by the profile

  Scenario: The start/stop state machine exists
    When the start/stop state machine is created from the guide's definition
    Then the state machine is ACTIVE

  Scenario: No path leaves the database running
    When the start/stop state machine is created from the guide's definition
    Then every path from start to end of the state machine stops the database instance

  Scenario: The wait for the database gives up after a few tries
    When the start/stop state machine is created from the guide's definition
    Then the state machine's waiting loop is bounded by a counter

  Scenario: The notifier learns the execution's start time
    When the start/stop state machine is created from the guide's definition
    Then the state machine invokes the notifier with force_current_time from its start time

  Scenario: Simulated runs stop the database whatever happens
    When the start/stop state machine is created from the guide's definition
    Then run locally in four scenarios, the state machine always leaves the database stopped

  Scenario: The state machine may do its job
    When the state machine's role is given its permissions
    Then the state machine's role may start, stop and describe the instance and invoke the function

  Scenario: The state machine runs the code that was deployed
    When the start/stop state machine is created from the guide's definition
    Then the state machine invokes the function's deployed code, not an older version
