"""The rule model of the contract and its vocabulary: errors, durations, paths, forms, summaries, policies, failures."""
