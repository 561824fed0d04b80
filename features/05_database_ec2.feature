@database_ec2
Feature: Creating the database — EC2 variant
  MySQL on a small EC2 instance, started and stopped around each run.
  Guide: Creating the database > On an EC2

  Background:
    Given the deployment described by the profile

  Scenario: The database instance sits in the VPC
    When the database instance is launched in the VPC
    Then the database instance runs in one of the notifier's subnets, in the database security group only

  Scenario: A t3 database bursts without limit
    When the database instance is launched in the VPC
    Then a burstable database instance has unlimited CPU credits

  Scenario: The database is EBS-backed on gp3
    When the database instance is launched in the VPC
    Then the database instance is EBS-backed with a gp3 root volume of the profile's size

  Scenario: The database runs Amazon Linux
    When the database instance is launched in the VPC
    Then the database instance runs an Amazon Linux image

  Scenario: The temporary Elastic IP was released
    When the temporary Elastic IP is released from the database instance
    Then no Elastic IP is left associated with the database instance

  @hosts
  Scenario: MySQL is installed on the host at the expected version
    When MySQL is installed and enabled on the database host
    Then the database host has the MySQL server installed at the profile's version

  @hosts
  Scenario: MySQL starts with the instance
    When MySQL is installed and enabled on the database host
    Then the MySQL service on the database host is enabled at boot

  @hosts
  Scenario: MySQL runs while the instance runs
    When MySQL is installed and enabled on the database host
    Then the MySQL server on the database host is running and listening on its port
