"""Social-media monitoring: post sources, Vietnamese normalisation, classifier, locator, and the
pipeline that turns a post into a Candidate (see social/README.md)."""
