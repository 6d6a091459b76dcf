//! Any JSON as the Slack notifier's event: an SNS event, or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = serde_json::from_slice(data) {
        if let Ok(event) = slack_notifier::decode::sns_event(event) {
            for record in event.records {
                let id = record.sns.message_id;
                if let Err(e) = slack_notifier::decode::decode(&id, &record.sns.message) {
                    assert!(e.to_string().starts_with("SNS message "), "{e}");
                }
            }
        }
    }
});
