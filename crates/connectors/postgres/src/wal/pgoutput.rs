//! Decoding of pgoutput (protocol version 1) messages other than Begin and
//! Commit, which pgwire-replication decodes itself.

/// A column of a Relation message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelColumn {
    pub name: String,
    pub type_oid: u32,
    pub type_modifier: i32,
    /// Part of the replica identity (the key pgoutput sends old values of).
    pub key: bool,
}

/// A Relation message: a table's shape, sent before its first change in a
/// session and again after it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub table: String,
    /// `d` default (primary key), `n` nothing, `f` full, `i` index.
    pub replica_identity: u8,
    pub columns: Vec<RelColumn>,
    /// The column names, shared by every row change of the relation.
    pub names: std::sync::Arc<[String]>,
}

/// One column of a tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datum {
    Null,
    /// An unchanged TOASTed value that pgoutput did not send.
    Unchanged,
    Text(Vec<u8>),
    Binary(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Relation(Relation),
    Insert { rel: u32, new: Vec<Datum> },
    /// `old` is the key ('K': other columns are `Null`) or, with `old_full`,
    /// the whole old row ('O', REPLICA IDENTITY FULL), when sent.
    Update { rel: u32, old: Option<Vec<Datum>>, old_full: bool, new: Vec<Datum> },
    Delete { rel: u32, old: Vec<Datum>, old_full: bool },
    Truncate { rels: Vec<u32>, cascade: bool, restart_identity: bool },
    /// Type, Origin, Message and anything else with no row data.
    Other(u8),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err(format!("pgoutput message truncated: need {n} bytes, {} left", self.buf.len()));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    /// The next `N` bytes as an array (for the fixed-width integers).
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    fn cstr(&mut self) -> Result<String, String> {
        let end = self.buf.iter().position(|&c| c == 0).ok_or("pgoutput string without terminator")?;
        let s = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf = &self.buf[end + 1..];
        Ok(s)
    }
    fn tuple(&mut self) -> Result<Vec<Datum>, String> {
        let n = self.i16()?;
        let mut out = Vec::with_capacity(n.max(0) as usize);
        for _ in 0..n {
            out.push(match self.u8()? {
                b'n' => Datum::Null,
                b'u' => Datum::Unchanged,
                k @ (b't' | b'b') => {
                    let len = self.i32()?;
                    if len < 0 {
                        return Err(format!("pgoutput negative value length {len}"));
                    }
                    let v = self.take(len as usize)?.to_vec();
                    if k == b't' { Datum::Text(v) } else { Datum::Binary(v) }
                }
                k => return Err(format!("pgoutput unknown tuple column kind {:?}", k as char)),
            });
        }
        Ok(out)
    }
}

/// Decodes one pgoutput message.
pub fn parse(data: &[u8]) -> Result<Message, String> {
    let mut r = Reader { buf: data };
    let tag = r.u8()?;
    Ok(match tag {
        b'R' => {
            let oid = r.u32()?;
            let schema = r.cstr()?;
            let table = r.cstr()?;
            let replica_identity = r.u8()?;
            let n = r.i16()?;
            let mut columns = Vec::with_capacity(n.max(0) as usize);
            for _ in 0..n {
                let flags = r.u8()?;
                let name = r.cstr()?;
                let type_oid = r.u32()?;
                let type_modifier = r.i32()?;
                columns.push(RelColumn { name, type_oid, type_modifier, key: flags & 1 != 0 });
            }
            let names = columns.iter().map(|c| c.name.clone()).collect();
            Message::Relation(Relation { oid, schema, table, replica_identity, columns, names })
        }
        b'I' => {
            let rel = r.u32()?;
            match r.u8()? {
                b'N' => Message::Insert { rel, new: r.tuple()? },
                k => return Err(format!("pgoutput Insert: expected 'N', got {:?}", k as char)),
            }
        }
        b'U' => {
            let rel = r.u32()?;
            let mut old = None;
            let mut k = r.u8()?;
            let old_full = k == b'O';
            if k == b'K' || k == b'O' {
                old = Some(r.tuple()?);
                k = r.u8()?;
            }
            if k != b'N' {
                return Err(format!("pgoutput Update: expected 'N', got {:?}", k as char));
            }
            Message::Update { rel, old, old_full, new: r.tuple()? }
        }
        b'D' => {
            let rel = r.u32()?;
            match r.u8()? {
                k @ (b'K' | b'O') => Message::Delete { rel, old: r.tuple()?, old_full: k == b'O' },
                k => return Err(format!("pgoutput Delete: expected 'K' or 'O', got {:?}", k as char)),
            }
        }
        b'T' => {
            let n = r.u32()?;
            let options = r.u8()?;
            let rels = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
            Message::Truncate { rels, cascade: options & 1 != 0, restart_identity: options & 2 != 0 }
        }
        other => Message::Other(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(cols: &[Option<&[u8]>]) -> Vec<u8> {
        let mut b = (cols.len() as i16).to_be_bytes().to_vec();
        for c in cols {
            match c {
                None => b.push(b'n'),
                Some(b"~") => b.push(b'u'),
                Some(v) => {
                    b.push(b't');
                    b.extend((v.len() as i32).to_be_bytes());
                    b.extend(*v);
                }
            }
        }
        b
    }

    #[test]
    fn relation_and_rows() {
        let mut m = vec![b'R'];
        m.extend(16385u32.to_be_bytes());
        m.extend(b"public\0t\0d");
        m.extend(2i16.to_be_bytes());
        m.push(1);
        m.extend(b"id\0");
        m.extend(23u32.to_be_bytes());
        m.extend((-1i32).to_be_bytes());
        m.push(0);
        m.extend(b"body\0");
        m.extend(25u32.to_be_bytes());
        m.extend((-1i32).to_be_bytes());
        let Message::Relation(rel) = parse(&m).unwrap() else { panic!() };
        assert_eq!((rel.schema.as_str(), rel.table.as_str(), rel.replica_identity), ("public", "t", b'd'));
        assert!(rel.columns[0].key && !rel.columns[1].key);
        assert_eq!(rel.columns[1].type_oid, 25);

        let mut u = vec![b'U'];
        u.extend(16385u32.to_be_bytes());
        u.push(b'K');
        u.extend(tuple(&[Some(b"1"), None]));
        u.push(b'N');
        u.extend(tuple(&[Some(b"2"), Some(b"~")]));
        assert_eq!(
            parse(&u).unwrap(),
            Message::Update {
                rel: 16385,
                old: Some(vec![Datum::Text(b"1".to_vec()), Datum::Null]),
                old_full: false,
                new: vec![Datum::Text(b"2".to_vec()), Datum::Unchanged],
            }
        );
        assert!(parse(&u[..u.len() - 1]).is_err());

        let mut t = vec![b'T'];
        t.extend(1u32.to_be_bytes());
        t.push(1);
        t.extend(7u32.to_be_bytes());
        assert_eq!(parse(&t).unwrap(), Message::Truncate { rels: vec![7], cascade: true, restart_identity: false });
    }
}
