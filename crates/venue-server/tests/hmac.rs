//! The hand-written HMAC-SHA256 that checks REST signatures, against the
//! RFC 4231 test vectors (short key, key longer than the block, long data).

use venue_server::rest::{hex, hmac_sha256};

#[test]
fn rfc_4231_vectors() {
    let cases: [(&[u8], &[u8], &str); 4] = [
        (&[0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (&[0xaa; 20], &[0xdd; 50], "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        (
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
    ];
    for (key, data, want) in cases {
        assert_eq!(hex(&hmac_sha256(key, data)), want, "key {} bytes", key.len());
    }
}
