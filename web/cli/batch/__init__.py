"""The batch submitter: a file of operations sent in batches; a re-run resumes."""
