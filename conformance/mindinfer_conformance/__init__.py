"""The mindinfer conformance suite: shared checks that any backend plugin can run."""
