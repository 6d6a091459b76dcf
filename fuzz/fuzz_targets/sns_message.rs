//! Any SNS message text through the Slack notifier's reader: an alert
//! document, an alarm, something foreign, or an error that never quotes it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = slack_notifier::decode::decode("m-1", message) {
        let text = e.to_string();
        assert!(text.starts_with("SNS message m-1 is not "), "{text}");
    }
});
