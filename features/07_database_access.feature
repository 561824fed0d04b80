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

  Scenario: No network ACL stands between MySQL and its clients
    Then the network ACLs let MySQL through from the Lambda subnets and the access host to the database and back

  @hosts
  Scenario: The access host reaches the database
    Then the database answers on its TCP port from the access host

  @hosts
  Scenario: The notifier can log in through the access host
    Then the notifier's credentials log in to MySQL through the access host at the profile's version

  @hosts
  Scenario: The notifier's databases exist
    Then both notifier databases exist with utf8mb4 and utf8mb4_bin

  @hosts
  Scenario: The notifier's user connects from the VPC only
    Then the notifier's MySQL user logs in as its account for the profile's network

  @hosts
  Scenario: The notifier's user may use both databases
    Then the notifier's MySQL user holds all privileges on both notifier databases
