//! DynamoDB snapshot store.
