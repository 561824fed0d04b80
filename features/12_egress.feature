@egress @smoke
Feature: Enabling internet access for the Lambda
  The Lambda in the VPC still reaches Wikidot and Gmail.
  Guide: Enabling internet access for the Lambda

  Background:
    Given the deployment described by the profile

  Scenario: Elastic IPs on the Lambda's network interfaces
    Then every Lambda network interface has an Elastic IP, one per Lambda subnet

  Scenario: A NAT gateway carries the Lambda's traffic
    Then the Lambda subnets route 0.0.0.0/0 to an available NAT gateway with an Elastic IP in a public subnet

  Scenario: A NAT instance carries the Lambda's traffic
    Then the Lambda subnets route 0.0.0.0/0 to the NAT instance, source/destination check off

  Scenario: No network ACL blocks the way out
    Then the network ACLs let the Lambda's HTTP and HTTPS out to the internet and back

  Scenario: Outbound connections do not time out
    Then the notifier's recent logs show no time-outs

  Scenario: A probe in the Lambda's subnets leaves from an expected public IP (opt-in)
    Then a probe function in the Lambda's subnets reaches the internet from an expected public IP
