@costs @smoke
Feature: Estimated costs
  The guide prices the setup at a few dollars a month: EIPs instead of a NAT gateway, a
  small database that runs a quarter of the time.
  Guide: Estimated costs

  Background:
    Given the deployment described by the profile

  Scenario: No NAT gateway is paying by the hour
    When the running costs are reviewed against the profile's budget
    Then no NAT gateway exists in the VPC unless egress goes through one

  Scenario: No idle Elastic IP is billed
    When the running costs are reviewed against the profile's budget
    Then no Elastic IP in the region is left unassociated

  Scenario: The database is one of the cheap sizes the guide allows
    When the running costs are reviewed against the profile's budget
    Then the database's instance type or capacity is one the profile allows

  Scenario: The monthly estimate stays inside the budget
    When the running costs are reviewed against the profile's budget
    Then the estimated monthly cost of what is deployed is within the profile's budget
