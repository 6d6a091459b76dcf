//! SNS alert publisher.
