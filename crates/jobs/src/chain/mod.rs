//! `watchChain`: EVM logs for the modules' chain subscriptions, delivered once each.

use platform::{Config, JobRegistry};

pub fn register(_registry: &mut JobRegistry, _config: &Config) {}
