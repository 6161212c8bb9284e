#![cfg(any(feature = "tls-rustls", feature = "tls-native-tls"))]
