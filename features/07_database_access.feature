@database_access
Feature: Accessing the database
  The database is reachable only from inside the VPC: through Cloud9, a bastion, an EC2
  Instance Connect Endpoint or Session Manager.
  Guide: Accessing the database > Setting up Cloud9

  Background:
    Given the deployment described by the profile

  Scenario: An access host lives in the VPC
    When the access host is set up in the VPC
    Then the access host exists in the VPC

  Scenario: An EC2 Instance Connect Endpoint leads to the access host
    When an EC2 Instance Connect Endpoint is created for the access host
    Then an EC2 Instance Connect Endpoint in the VPC reaches the access host over SSH

  Scenario: Session Manager knows the access host
    When the access host is registered with Session Manager
    Then the access host's SSM agent is online in Session Manager

  Scenario: The access host may open Session Manager channels
    When the access host is registered with Session Manager
    Then the access host's instance profile lets its SSM agent open Session Manager channels

  Scenario: The access host may reach MySQL
    When the database admits the access host
    Then the database security group admits TCP 3306 from the access host's security group

  Scenario: No network ACL stands between MySQL and its clients
    When the database admits the access host
    Then the network ACLs let MySQL through from the Lambda subnets and the access host to the database and back

  @hosts
  Scenario: The access host reaches the database
    When the database admits the access host
    Then the database answers on its TCP port from the access host

  @hosts
  Scenario: The notifier can log in through the access host
    When the notifier's databases and MySQL user are created from the access host
    Then the notifier's credentials log in to MySQL through the access host at the profile's version

  @hosts
  Scenario: The notifier's databases exist
    When the notifier's databases and MySQL user are created from the access host
    Then both notifier databases exist with utf8mb4 and utf8mb4_bin

  @hosts
  Scenario: The notifier's user connects from the VPC only
    When the notifier's databases and MySQL user are created from the access host
    Then the notifier's MySQL user logs in as its account for the profile's network

  @hosts
  Scenario: The notifier's user may use both databases
    When the notifier's databases and MySQL user are created from the access host
    Then the notifier's MySQL user holds all privileges on both notifier databases
