"""The notifier's Step Functions flow: its template, structural analysis and local simulation."""
