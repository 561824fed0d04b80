"""Step definitions: thin glue from Gherkin sentences to checks."""
