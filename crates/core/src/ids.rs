//! Identifiers handed out by the control plane.
//!
//! DTS pairs every instance with one job: the instance ID is `dts` followed by
//! the job ID (`dtsbi6e22ay243xyz` / `bi6e22ay243xyz`). AccessKey IDs follow the
//! Alibaba Cloud shape (`LTAI` + 20 characters).

/// Alphabet of job IDs: lowercase letters and digits, as in the seeds' samples.
const JOB_ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const AK_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Prefix that turns a job ID into its instance ID.
pub const INSTANCE_PREFIX: &str = "dts";

/// Maps random bytes onto an alphabet. Rejection sampling keeps every symbol
/// equally likely.
fn pick(random: &mut dyn FnMut() -> u8, alphabet: &[u8], len: usize) -> String {
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let b = random() as usize;
        if b < limit {
            out.push(alphabet[b % alphabet.len()] as char);
        }
    }
    out
}

/// A new job ID: a letter then 14 letters or digits.
pub fn new_job_id(random: &mut dyn FnMut() -> u8) -> String {
    let first = pick(random, &JOB_ID_ALPHABET[..26], 1);
    first + &pick(random, JOB_ID_ALPHABET, 14)
}

pub fn instance_id_for(job_id: &str) -> String {
    format!("{INSTANCE_PREFIX}{job_id}")
}

/// A new AccessKey ID.
pub fn new_access_key_id(random: &mut dyn FnMut() -> u8) -> String {
    format!("LTAI{}", pick(random, AK_ALPHABET, 20))
}

/// A new AccessKey secret (30 characters, as Alibaba Cloud issues them).
pub fn new_access_key_secret(random: &mut dyn FnMut() -> u8) -> String {
    pick(random, SECRET_ALPHABET, 30)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> impl FnMut() -> u8 {
        let mut n: u8 = 0;
        move || {
            n = n.wrapping_add(37);
            n
        }
    }

    #[test]
    fn job_and_instance_ids_have_the_dts_shape() {
        let mut r = counter();
        let job = new_job_id(&mut r);
        assert_eq!(job.len(), 15);
        assert!(job.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
        assert!(job.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_eq!(instance_id_for(&job), format!("dts{job}"));
    }

    #[test]
    fn access_keys_have_the_alibaba_shape() {
        let mut r = counter();
        let id = new_access_key_id(&mut r);
        assert!(id.starts_with("LTAI"));
        assert_eq!(id.len(), 24);
        assert_eq!(new_access_key_secret(&mut r).len(), 30);
    }
}
