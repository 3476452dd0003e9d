#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| federated_credentials::fuzzing::imds_credentials_json(data));
