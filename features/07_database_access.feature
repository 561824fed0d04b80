@database_access
Feature: Accessing the database
  The database is reachable only from inside the VPC: through Cloud9 or a bastion.
  Guide: Accessing the database > Setting up Cloud9

  Background:
    Given the deployment described by the profile

  Scenario: An access host lives in the VPC
    Then the access host exists in the VPC

  Scenario: The access host may reach MySQL
    Then the database security group admits TCP 3306 from the access host's security group
