//! Controller scenarios against a mocked API server.
