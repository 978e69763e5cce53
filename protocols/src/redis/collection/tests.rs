use bytes::Bytes;

use super::*;
use crate::kv::Mutation;
use crate::redis::command::test_support::FakeKv;

#[test]
fn metadata_round_trips_and_list_metadata_carries_its_ends() {
    let mut hash = Meta::new(ValueType::Hash, 42);
    hash.size = 7;
    assert_eq!(Meta::decode(&hash.encode()), Ok(hash));
    let mut list = Meta::new(ValueType::List, 9);
    list.head -= 2;
    list.size = 2;
    assert_eq!(Meta::decode(&list.encode()), Ok(list));
    assert!(Meta::decode(&hash.encode()[..5]).is_err());
    assert!(Meta::decode(b"\x01abc").is_err(), "a string is not a collection");
}

#[test]
fn sub_keys_of_one_family_sort_together_inside_their_range() {
    let meta = Meta::new(ValueType::Hash, 5);
    let (start, end) = meta.sub_range(SubKind::Field);
    for field in [&b""[..], b"a", b"\xff\xff"] {
        let key = meta.sub_key(SubKind::Field, field);
        assert!(key >= start && key < end);
        assert_eq!(sub_key_rest(&key), Bytes::copy_from_slice(field));
    }
    let other = Meta::new(ValueType::Hash, 6).sub_key(SubKind::Field, b"a");
    assert!(other >= end);
    let (all_start, all_end) = subkey_range();
    assert!(start >= all_start && end <= all_end);
}

async fn hset(kv: &FakeKv, key: &str, field: &str) -> Meta {
    let txn = Transaction::new(kv);
    let mut found = load_or_create(&txn, key.as_bytes(), ValueType::Hash).await.unwrap();
    found.meta.size += 1;
    let sub = found.meta.sub_key(SubKind::Field, field.as_bytes());
    let put = Mutation::Put { key: sub, value: Bytes::from_static(b"v"), expiry: Expiry::Never };
    txn.write(vec![], vec![put, save_meta(key.as_bytes(), &found.meta, found.expiry)]).await.unwrap();
    let commit = txn.finish(vec![]).await.unwrap().unwrap();
    assert!(matches!(kv.commit(commit).await.unwrap(), TxnOutcome::Committed { .. }));
    found.meta
}

async fn sub_keys(kv: &FakeKv) -> usize {
    let (start, end) = subkey_range();
    kv.scan(start, end, usize::MAX).await.unwrap().len()
}

#[tokio::test]
async fn gc_removes_only_sub_keys_of_dead_collections() {
    let kv = FakeKv::new();
    let kept = hset(&kv, "kept", "a").await;
    hset(&kv, "kept", "b").await;
    hset(&kv, "dropped", "a").await;
    hset(&kv, "dropped", "b").await;
    assert_eq!(sub_keys(&kv).await, 4);
    kv.write(vec![], vec![Mutation::Delete { key: kv_key(b"dropped") }]).await.unwrap();
    let pass = gc::collect_garbage(&kv).await.unwrap();
    assert_eq!(pass, gc::GcPass { live_collections: 1, orphaned_versions: 1 });
    let (start, end) = subkey_range();
    let left: Vec<Bytes> = kv.scan(start, end, 10).await.unwrap().into_iter().map(|s| s.key).collect();
    assert_eq!(left, vec![kept.sub_key(SubKind::Field, b"a"), kept.sub_key(SubKind::Field, b"b")]);
    // A second pass finds nothing more.
    assert_eq!(gc::collect_garbage(&kv).await.unwrap().orphaned_versions, 0);
}

#[tokio::test]
async fn atomically_reruns_on_conflict_and_commits_once() {
    struct Bump;
    impl Atomic for Bump {
        type Output = u64;
        async fn run<K: KvStore>(&self, kv: &K) -> Result<u64, RedisError> {
            let mut found = load_or_create(kv, b"h", ValueType::Set).await?;
            found.meta.size += 1;
            kv.write(vec![], vec![save_meta(b"h", &found.meta, found.expiry)]).await?;
            Ok(found.meta.size)
        }
    }
    let kv = FakeKv::new();
    assert_eq!(atomically(&kv, &Bump).await, Ok(1));
    // Another client bumps the set between our snapshot and our commit: we rerun and see it.
    let mut theirs = Meta::new(ValueType::Set, 1);
    theirs.size = 5;
    kv.write_before_next_commit(vec![Mutation::Put {
        key: kv_key(b"h"),
        value: theirs.encode(),
        expiry: Expiry::Never,
    }]);
    assert_eq!(atomically(&kv, &Bump).await, Ok(6));
    kv.write(
        vec![],
        vec![Mutation::Put { key: kv_key(b"h"), value: Bytes::from_static(b"\x01s"), expiry: Expiry::Never }],
    )
    .await
    .unwrap();
    assert_eq!(atomically(&kv, &Bump).await, Err(RedisError::WrongType));
}
