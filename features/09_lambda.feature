@lambda @smoke
Feature: Setting up the Lambda
  The notifier's function, sized and throttled as the guide says.
  Guide: Setting up the Lambda

  Background:
    Given the deployment described by the profile

  Scenario: The function is deployed
    When the function is created
    Then the function exists, Active, and its last update was successful

  Scenario: The function is packaged as the profile says
    When the function is created
    Then the function's package type, runtime and handler match the profile

  Scenario: The function has time and memory enough
    When the function is created
    Then the function's timeout suits the phase and its memory is the profile's

  Scenario: Only one notifier runs at a time, never retried
    When the function's concurrency is reserved and its retries turned off
    Then the function has reserved concurrency 1 and no asynchronous retries

  Scenario: Nothing else invokes the notifier
    When the function is left to its runner alone
    Then nothing but its runner invokes the function: no event source, no destination back to it, no open URL or outside invoker
