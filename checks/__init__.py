"""Pure checks: inventory + profile -> Outcome. No AWS, SSH or perform code in here."""
