//! The layer stream: gzip or plain tar, told apart by its first bytes.

use super::UnpackError;
use flate2::read::MultiGzDecoder;
use std::io::{self, Read};

/// A layer stream, gunzipped if it started with the gzip magic.
pub enum LayerReader<R: Read> {
    Plain(io::Chain<io::Cursor<Vec<u8>>, R>),
    Gzip(Box<MultiGzDecoder<io::Chain<io::Cursor<Vec<u8>>, R>>>),
}

impl<R: Read> Read for LayerReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            LayerReader::Plain(r) => r.read(buf),
            LayerReader::Gzip(r) => r.read(buf),
        }
    }
}

/// Sniff the first bytes of a layer blob: gzip is decompressed on the fly, a
/// plain tar passes through, zstd is refused with a clear error.
pub fn decompressed<R: Read>(mut r: R) -> Result<LayerReader<R>, UnpackError> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(UnpackError::Corrupt(e)),
        }
    }
    let head = &head[..n];
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(UnpackError::UnsupportedCompression("zstd"));
    }
    let chained = io::Cursor::new(head.to_vec()).chain(r);
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(LayerReader::Gzip(Box::new(MultiGzDecoder::new(chained))))
    } else {
        Ok(LayerReader::Plain(chained))
    }
}
