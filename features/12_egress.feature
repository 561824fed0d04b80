@egress @smoke
Feature: Enabling internet access for the Lambda
  The Lambda in the VPC still reaches Wikidot and Gmail.
  Guide: Enabling internet access for the Lambda

  Background:
    Given the deployment described by the profile

  Scenario: Elastic IPs on the Lambda's network interfaces
    When an Elastic IP is associated with each Lambda network interface
    Then every Lambda network interface has an Elastic IP, one per Lambda subnet

  Scenario: A NAT gateway carries the Lambda's traffic
    When a NAT gateway carries the Lambda subnets' traffic
    Then the Lambda subnets route 0.0.0.0/0 to an available NAT gateway with an Elastic IP in a public subnet

  Scenario: A NAT instance carries the Lambda's traffic
    When a NAT instance carries the Lambda subnets' traffic
    Then the Lambda subnets route 0.0.0.0/0 to the NAT instance, source/destination check off

  Scenario: No network ACL blocks the way out
    When the Lambda's way out to the internet is confirmed
    Then the network ACLs let the Lambda's HTTP and HTTPS out to the internet and back

  Scenario: Outbound connections do not time out
    When the Lambda's way out to the internet is confirmed
    Then the notifier's recent logs show no time-outs

  Scenario: A probe in the Lambda's subnets leaves from an expected public IP (opt-in)
    When the Lambda's way out to the internet is confirmed
    Then a probe function in the Lambda's subnets reaches the internet from an expected public IP
