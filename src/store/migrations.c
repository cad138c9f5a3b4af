/* The SQLite migrations, in order (see migrations.h). Tables are STRICT so a wrong type
 * is an error rather than a silent conversion; times are INTEGER microseconds with 0 for
 * "absent"; identifiers are 32-hex TEXT; hashes are 32-byte BLOBs. */
#include "store/migrations.h"

#include <assert.h>
#include <stddef.h>

static const char *const migrations[] = {
    /* 1: users, accounts, API tokens, zones. */
    "CREATE TABLE users ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  email TEXT NOT NULL COLLATE NOCASE UNIQUE,"
    "  key_hash BLOB NOT NULL,"
    "  created_on INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE accounts ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  name TEXT NOT NULL,"
    "  owner_user_id TEXT NOT NULL REFERENCES users(id),"
    "  created_on INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX accounts_owner ON accounts(owner_user_id);"
    "CREATE TABLE tokens ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id),"
    "  hash BLOB NOT NULL UNIQUE,"
    "  permissions INTEGER NOT NULL,"
    "  zone_scope TEXT NOT NULL DEFAULT '',"
    "  expires_on INTEGER NOT NULL DEFAULT 0,"
    "  revoked_on INTEGER NOT NULL DEFAULT 0,"
    "  created_on INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX tokens_account ON tokens(account_id);"
    "CREATE TABLE zones ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id),"
    "  name TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  universal_ssl INTEGER NOT NULL DEFAULT 1,"
    "  advanced_quota INTEGER NOT NULL DEFAULT 50,"
    "  created_on INTEGER NOT NULL,"
    "  modified_on INTEGER NOT NULL,"
    "  activated_on INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (account_id, name)"
    ") STRICT;"
    "CREATE INDEX zones_created ON zones(created_on, id);",

    /* 2: the worker's job queue; managed client CAs, their revocations and client
     * certificates (API Shield mTLS). Revocations live with the CA, not the certificate,
     * so deleting a zone never drops a serial from the published CRL. */
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  next_run_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  lease_owner TEXT NOT NULL DEFAULT '',"
    "  lease_until INTEGER NOT NULL DEFAULT 0,"
    "  rerun INTEGER NOT NULL DEFAULT 0,"
    "  created_on INTEGER NOT NULL,"
    "  UNIQUE (kind, target)"
    ") STRICT;"
    "CREATE INDEX jobs_due ON jobs(next_run_at);"
    "CREATE TABLE client_cas ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  account_id TEXT NOT NULL UNIQUE REFERENCES accounts(id),"
    "  name TEXT NOT NULL,"
    "  cert_pem TEXT NOT NULL,"
    "  key_sealed BLOB NOT NULL,"
    "  crl_number INTEGER NOT NULL,"
    "  crl_der BLOB NOT NULL,"
    "  crl_next_update INTEGER NOT NULL,"
    "  created_on INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE client_ca_revocations ("
    "  ca_id TEXT NOT NULL REFERENCES client_cas(id),"
    "  serial TEXT NOT NULL,"
    "  revoked_on INTEGER NOT NULL,"
    "  PRIMARY KEY (ca_id, serial)"
    ") STRICT;"
    "CREATE TABLE client_certs ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  zone_id TEXT NOT NULL REFERENCES zones(id) ON DELETE CASCADE,"
    "  ca_id TEXT NOT NULL REFERENCES client_cas(id),"
    "  status TEXT NOT NULL,"
    "  serial TEXT NOT NULL,"
    "  fingerprint TEXT NOT NULL,"
    "  ski TEXT NOT NULL,"
    "  signature TEXT NOT NULL,"
    "  common_name TEXT NOT NULL,"
    "  country TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  location TEXT NOT NULL,"
    "  organization TEXT NOT NULL,"
    "  organizational_unit TEXT NOT NULL,"
    "  csr TEXT NOT NULL,"
    "  certificate TEXT NOT NULL,"
    "  validity_days INTEGER NOT NULL,"
    "  issued_on INTEGER NOT NULL,"
    "  expires_on INTEGER NOT NULL,"
    "  revoked_on INTEGER NOT NULL DEFAULT 0,"
    "  created_on INTEGER NOT NULL,"
    "  modified_on INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX client_certs_zone ON client_certs(zone_id, created_on, id);"
    "CREATE INDEX client_certs_zone_status ON client_certs(zone_id, status, created_on, id);",

    /* 3: the built-in CA (one row), certificate packs and their certificates. A pack's
     * hosts, validation records, errors and delegation records are stored as the JSON the
     * API shows (they are only ever read and written whole), so a page of packs is one
     * indexed range scan. Certificates carry the generation of the issuance that made
     * them: a renewal inserts generation N+1 while N stays deployed and visible. */
    "CREATE TABLE local_ca ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  root_pem TEXT NOT NULL,"
    "  intermediate_pem TEXT NOT NULL,"
    "  root_key_sealed BLOB NOT NULL,"
    "  intermediate_key_sealed BLOB NOT NULL,"
    "  created_on INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE packs ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  zone_id TEXT NOT NULL REFERENCES zones(id) ON DELETE CASCADE,"
    "  type TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  status_since INTEGER NOT NULL,"
    "  certificate_authority TEXT NOT NULL,"
    "  validation_method TEXT NOT NULL,"
    "  validity_days INTEGER NOT NULL,"
    "  cloudflare_branding INTEGER NOT NULL,"
    "  hosts TEXT NOT NULL,"
    "  validation_records TEXT NOT NULL,"
    "  validation_errors TEXT NOT NULL,"
    "  dcv_delegation_records TEXT NOT NULL,"
    "  check_failures INTEGER NOT NULL DEFAULT 0,"
    "  renewal_failures INTEGER NOT NULL DEFAULT 0,"
    "  cert_generation INTEGER NOT NULL DEFAULT 0,"
    "  version INTEGER NOT NULL DEFAULT 0,"
    "  created_on INTEGER NOT NULL,"
    "  modified_on INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX packs_zone ON packs(zone_id, created_on, id);"
    "CREATE TABLE pack_certificates ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  pack_id TEXT NOT NULL REFERENCES packs(id) ON DELETE CASCADE,"
    "  generation INTEGER NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  key_type TEXT NOT NULL,"
    "  signature TEXT NOT NULL,"
    "  issuer TEXT NOT NULL,"
    "  serial TEXT NOT NULL,"
    "  chain_pem TEXT NOT NULL,"
    "  key_sealed BLOB NOT NULL,"
    "  not_before INTEGER NOT NULL,"
    "  expires_on INTEGER NOT NULL,"
    "  uploaded_on INTEGER NOT NULL,"
    "  modified_on INTEGER NOT NULL,"
    "  UNIQUE (pack_id, generation, key_type)"
    ") STRICT;",

    /* 4: live packs (not deleted) of a zone in list order: the default pack list counts and
     * pages through this index alone, however many packs the zone has. */
    "CREATE INDEX packs_zone_live ON packs(zone_id, created_on, id) WHERE status <> 'deleted';",

    /* 5: each zone's number of live (not deleted) packs, kept by triggers in the same
     * transaction as every change, so the default pack list's total_count is one read
     * instead of a walk over the zone's index (100,000 packs: ~8 ms). */
    "ALTER TABLE zones ADD COLUMN live_packs INTEGER NOT NULL DEFAULT 0;"
    "UPDATE zones SET live_packs = (SELECT count(*) FROM packs "
    "  WHERE packs.zone_id = zones.id AND packs.status <> 'deleted');"
    "CREATE TRIGGER packs_live_insert AFTER INSERT ON packs WHEN NEW.status <> 'deleted' "
    "BEGIN UPDATE zones SET live_packs = live_packs + 1 WHERE id = NEW.zone_id; END;"
    "CREATE TRIGGER packs_live_delete AFTER DELETE ON packs WHEN OLD.status <> 'deleted' "
    "BEGIN UPDATE zones SET live_packs = live_packs - 1 WHERE id = OLD.zone_id; END;"
    "CREATE TRIGGER packs_live_update AFTER UPDATE OF status ON packs "
    "WHEN (OLD.status = 'deleted') <> (NEW.status = 'deleted') "
    "BEGIN UPDATE zones SET live_packs = live_packs + (CASE WHEN NEW.status = 'deleted' "
    "THEN -1 ELSE 1 END) WHERE id = NEW.zone_id; END;",

    /* 6: the zone's Automatic SSL/TLS mode (SPEC §4.7) and when it last changed (0 = never:
     * readers use the zone's created_on). */
    "ALTER TABLE zones ADD COLUMN ssl_automatic_mode TEXT NOT NULL DEFAULT 'auto' "
    "  CHECK (ssl_automatic_mode IN ('auto', 'custom'));"
    "ALTER TABLE zones ADD COLUMN ssl_automatic_mode_modified_on INTEGER NOT NULL DEFAULT 0;",

    /* 7: Authenticated Origin Pulls (SPEC §4.9): uploaded client certificates the proxy
     * presents to origins (zone-level and per-hostname), their hostname associations, and
     * the zone-level on/off setting. Keys are sealed under the master key. */
    "CREATE TABLE aop_certs ("
    "  id TEXT PRIMARY KEY,"
    "  zone_id TEXT NOT NULL REFERENCES zones(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('zone', 'hostname')),"
    "  status TEXT NOT NULL,"
    "  certificate TEXT NOT NULL,"
    "  key_sealed BLOB NOT NULL,"
    "  issuer TEXT NOT NULL,"
    "  serial TEXT NOT NULL,"
    "  signature TEXT NOT NULL,"
    "  expires_on INTEGER NOT NULL,"
    "  uploaded_on INTEGER NOT NULL,"
    "  updated_on INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX aop_certs_zone ON aop_certs(zone_id, kind, uploaded_on, id);"
    "CREATE TABLE aop_hostnames ("
    "  zone_id TEXT NOT NULL REFERENCES zones(id) ON DELETE CASCADE,"
    "  hostname TEXT NOT NULL,"
    "  cert_id TEXT NOT NULL REFERENCES aop_certs(id) ON DELETE CASCADE,"
    "  enabled INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (zone_id, hostname)"
    ") STRICT;"
    "CREATE INDEX aop_hostnames_cert ON aop_hostnames(cert_id);"
    "ALTER TABLE zones ADD COLUMN aop_enabled INTEGER NOT NULL DEFAULT 0;",

    /* 8: zone deletion as a durable job. A deleted zone leaves the API at once (deleting_on
     * set) while its job removes deployments and then the rows. The UNIQUE (account_id,
     * name) of migration 1 cannot be relaxed without rebuilding `zones` (whose children
     * cascade), so a deleting zone gives its name up instead: the name moves to
     * deleting_name and `name` becomes the zone's id, which has no dot and so never
     * collides with a zone name; the account may create that name again at once. */
    "ALTER TABLE zones ADD COLUMN deleting_on INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE zones ADD COLUMN deleting_name TEXT NOT NULL DEFAULT '';",
    /* 9: the default pack list shows only active packs (as Cloudflare's): each zone's
     * number of active packs, kept by triggers like live_packs, and a partial index in list
     * order, so a page and its total_count cost the same however many packs are not active. */
    "ALTER TABLE zones ADD COLUMN active_packs INTEGER NOT NULL DEFAULT 0;"
    "UPDATE zones SET active_packs = (SELECT count(*) FROM packs "
    "  WHERE packs.zone_id = zones.id AND packs.status = 'active');"
    "CREATE INDEX packs_zone_active ON packs(zone_id, created_on, id) WHERE status = 'active';"
    "CREATE TRIGGER packs_active_insert AFTER INSERT ON packs WHEN NEW.status = 'active' "
    "BEGIN UPDATE zones SET active_packs = active_packs + 1 WHERE id = NEW.zone_id; END;"
    "CREATE TRIGGER packs_active_delete AFTER DELETE ON packs WHEN OLD.status = 'active' "
    "BEGIN UPDATE zones SET active_packs = active_packs - 1 WHERE id = OLD.zone_id; END;"
    "CREATE TRIGGER packs_active_update AFTER UPDATE OF status ON packs "
    "WHEN (OLD.status = 'active') <> (NEW.status = 'active') "
    "BEGIN UPDATE zones SET active_packs = active_packs + (CASE WHEN NEW.status = 'active' "
    "THEN 1 ELSE -1 END) WHERE id = NEW.zone_id; END;",
    /* 10: the HTTP-01 challenges tlsward publishes itself (its responder and --webroot),
     * by token: the worker keeps them in step with the packs' pending http records, so the
     * responder finds a token with one indexed lookup instead of scanning every pack's
     * records. A pack's rows go with it. */
    "CREATE TABLE http_challenges ("
    "  token TEXT PRIMARY KEY NOT NULL,"
    "  pack_id TEXT NOT NULL REFERENCES packs(id) ON DELETE CASCADE,"
    "  body TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX http_challenges_pack ON http_challenges(pack_id);",
    /* 11: DCV TXT records tlsward publishes in DNS itself (--dns-update, --dns-hook). A row
     * is written before the record is added and removed only after the record is deleted,
     * so a crash never leaves a record behind without its row, and cleanup (after a
     * restart too) deletes exactly what was added. No foreign key: a row must outlive its
     * pack's rows until its record is gone. published: the add succeeded. */
    "CREATE TABLE dns_records ("
    "  pack_id TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  zone TEXT NOT NULL,"
    "  published INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (pack_id, name, value)"
    ") STRICT;",
    /* 12: ACME (packs of a CA sent to an upstream). acme_accounts: one account per tlsward
     * account, CA and directory, its ES256 key sealed under the master key (AAD names the
     * row), account_url '' until registered. acme_orders: the open order of each of a pack's
     * two certificates (key_type ecdsa | rsa), so any worker resumes it after a crash;
     * authz_urls newline-separated; key_sealed is the key of the CSR (sealed), so a valid
     * order downloaded after a crash still has its key. acme_certs: every certificate an
     * upstream issued, with what its revocation needs; no foreign key, so a deleted pack's
     * certificates can still be revoked. */
    "CREATE TABLE acme_accounts ("
    "  account_id TEXT NOT NULL,"
    "  ca TEXT NOT NULL,"
    "  directory_url TEXT NOT NULL,"
    "  account_url TEXT NOT NULL DEFAULT '',"
    "  key_sealed BLOB NOT NULL,"
    "  created_on INTEGER NOT NULL,"
    "  updated_on INTEGER NOT NULL,"
    "  PRIMARY KEY (account_id, ca, directory_url)"
    ") STRICT;"
    "CREATE TABLE acme_orders ("
    "  pack_id TEXT NOT NULL REFERENCES packs(id) ON DELETE CASCADE,"
    "  key_type TEXT NOT NULL,"
    "  order_url TEXT NOT NULL,"
    "  authz_urls TEXT NOT NULL,"
    "  finalize_url TEXT NOT NULL,"
    "  certificate_url TEXT NOT NULL DEFAULT '',"
    "  status TEXT NOT NULL,"
    "  expires_on INTEGER NOT NULL DEFAULT 0,"
    "  key_sealed BLOB,"
    "  created_on INTEGER NOT NULL,"
    "  updated_on INTEGER NOT NULL,"
    "  PRIMARY KEY (pack_id, key_type)"
    ") STRICT;"
    "CREATE TABLE acme_certs ("
    "  cert_id TEXT PRIMARY KEY NOT NULL,"
    "  pack_id TEXT NOT NULL,"
    "  account_id TEXT NOT NULL,"
    "  ca TEXT NOT NULL,"
    "  serial TEXT NOT NULL,"
    "  leaf_pem TEXT NOT NULL,"
    "  revoked_on INTEGER NOT NULL DEFAULT 0,"
    "  created_on INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX acme_certs_pack ON acme_certs(pack_id);",
    /* 13: several worker nodes on one store. nodes: one row per worker process's data dir
     * (its id lives in DATA/node.id), heartbeat_at renewed while it runs; a node counts
     * as live while the heartbeat is recent. node_deployments: what each node has in its
     * own deploy tree (kind 'pack': the generation of the pack's certificates deployed;
     * 'aop': an origin-pull certificate, generation 1), so a pack becomes active once
     * every live node has its generation, and a node that joins or lost its tree knows
     * what to catch up. No foreign keys: a row must outlive its pack until the node has
     * removed the files. */
    "CREATE TABLE nodes ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  name TEXT NOT NULL,"
    "  started_on INTEGER NOT NULL,"
    "  heartbeat_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE node_deployments ("
    "  node_id TEXT NOT NULL,"
    "  object_id TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  zone_id TEXT NOT NULL,"
    "  generation INTEGER NOT NULL,"
    "  deployed_at INTEGER NOT NULL,"
    "  PRIMARY KEY (node_id, object_id)"
    ") STRICT;"
    "CREATE INDEX node_deployments_object ON node_deployments(object_id, generation);",
    /* 14: each zone's pack-list version, bumped by triggers in the same transaction as any
     * change that can move a pack into or out of one of the zone's lists, or within them
     * (insert, delete, a new status, zone, creation time or id). The position maps that
     * turn deep list pages into index seeks (store_positions.c) are cached under it. */
    "ALTER TABLE zones ADD COLUMN packs_version INTEGER NOT NULL DEFAULT 0;"
    "CREATE TRIGGER packs_version_insert AFTER INSERT ON packs "
    "BEGIN UPDATE zones SET packs_version = packs_version + 1 WHERE id = NEW.zone_id; END;"
    "CREATE TRIGGER packs_version_delete AFTER DELETE ON packs "
    "BEGIN UPDATE zones SET packs_version = packs_version + 1 WHERE id = OLD.zone_id; END;"
    "CREATE TRIGGER packs_version_update AFTER UPDATE OF status, zone_id, created_on, id ON packs "
    "WHEN OLD.status <> NEW.status OR OLD.zone_id <> NEW.zone_id "
    "OR OLD.created_on <> NEW.created_on OR OLD.id <> NEW.id "
    "BEGIN UPDATE zones SET packs_version = packs_version + 1 "
    "WHERE id = OLD.zone_id OR id = NEW.zone_id; END;",
    /* 15: each zone's number of advanced packs that use its allocation (not being or
     * already deleted), kept by triggers like live_packs, so an order's quota check is one
     * read instead of a walk over the zone's packs (which made every order slower than the
     * one before: 5,000 packs cost ~1 ms per order). */
    "ALTER TABLE zones ADD COLUMN advanced_used INTEGER NOT NULL DEFAULT 0;"
    "UPDATE zones SET advanced_used = (SELECT count(*) FROM packs "
    "  WHERE packs.zone_id = zones.id AND packs.type = 'advanced' "
    "  AND packs.status NOT IN ('pending_deletion', 'deleted', 'deletion_timed_out'));"
    "CREATE TRIGGER packs_advanced_insert AFTER INSERT ON packs "
    "WHEN NEW.type = 'advanced' "
    "AND NEW.status NOT IN ('pending_deletion', 'deleted', 'deletion_timed_out') "
    "BEGIN UPDATE zones SET advanced_used = advanced_used + 1 WHERE id = NEW.zone_id; END;"
    "CREATE TRIGGER packs_advanced_delete AFTER DELETE ON packs "
    "WHEN OLD.type = 'advanced' "
    "AND OLD.status NOT IN ('pending_deletion', 'deleted', 'deletion_timed_out') "
    "BEGIN UPDATE zones SET advanced_used = advanced_used - 1 WHERE id = OLD.zone_id; END;"
    "CREATE TRIGGER packs_advanced_update AFTER UPDATE OF status, type ON packs "
    "WHEN (OLD.type = 'advanced' "
    "  AND OLD.status NOT IN ('pending_deletion', 'deleted', 'deletion_timed_out')) <> "
    "  (NEW.type = 'advanced' "
    "  AND NEW.status NOT IN ('pending_deletion', 'deleted', 'deletion_timed_out')) "
    "BEGIN UPDATE zones SET advanced_used = advanced_used + (CASE WHEN NEW.type = 'advanced' "
    "  AND NEW.status NOT IN ('pending_deletion', 'deleted', 'deletion_timed_out') "
    "  THEN 1 ELSE -1 END) WHERE id = NEW.zone_id; END;",

    /* 16: what the API shows of a pack's certificates, in one index, so rendering a pack
     * reads neither the certificate rows nor their chains and sealed keys (an RSA row
     * fills a whole page; the columns shown come after its chain and key). */
    "CREATE INDEX pack_certificates_shown ON pack_certificates(pack_id, generation, priority, "
    "id, signature, issuer, expires_on, uploaded_on, modified_on);",

    /* 17: the zone counters of migrations 5, 9, 14 and 15 kept by one trigger per event
     * instead of one per counter: an order's INSERT ran three UPDATEs of its zone's row
     * (live_packs, packs_version, advanced_used), each a seek and a rewrite of that row,
     * under the group commit's writer; now it runs one. Each counter moves exactly as
     * before: live_packs, active_packs and advanced_used by the same deltas on NEW.zone_id,
     * packs_version by one on OLD.zone_id and NEW.zone_id for the same changes. (IF
     * EXISTS: a store rolled back by hand to an older version may lack some of them.) */
    "DROP TRIGGER IF EXISTS packs_live_insert;"
    "DROP TRIGGER IF EXISTS packs_live_delete;"
    "DROP TRIGGER IF EXISTS packs_live_update;"
    "DROP TRIGGER IF EXISTS packs_active_insert;"
    "DROP TRIGGER IF EXISTS packs_active_delete;"
    "DROP TRIGGER IF EXISTS packs_active_update;"
    "DROP TRIGGER IF EXISTS packs_version_insert;"
    "DROP TRIGGER IF EXISTS packs_version_delete;"
    "DROP TRIGGER IF EXISTS packs_version_update;"
    "DROP TRIGGER IF EXISTS packs_advanced_insert;"
    "DROP TRIGGER IF EXISTS packs_advanced_delete;"
    "DROP TRIGGER IF EXISTS packs_advanced_update;"
    "CREATE TRIGGER packs_zone_insert AFTER INSERT ON packs "
    "BEGIN UPDATE zones SET "
    "  live_packs = live_packs + (CASE WHEN NEW.status <> 'deleted' THEN 1 ELSE 0 END), "
    "  active_packs = active_packs + (CASE WHEN NEW.status = 'active' THEN 1 ELSE 0 END), "
    "  advanced_used = advanced_used + (CASE WHEN NEW.type = 'advanced' "
    "    AND NEW.status NOT IN ('pending_deletion', 'deleted', 'deletion_timed_out') "
    "    THEN 1 ELSE 0 END), "
    "  packs_version = packs_version + 1 "
    "WHERE id = NEW.zone_id; END;"
    "CREATE TRIGGER packs_zone_delete AFTER DELETE ON packs "
    "BEGIN UPDATE zones SET "
    "  live_packs = live_packs - (CASE WHEN OLD.status <> 'deleted' THEN 1 ELSE 0 END), "
    "  active_packs = active_packs - (CASE WHEN OLD.status = 'active' THEN 1 ELSE 0 END), "
    "  advanced_used = advanced_used - (CASE WHEN OLD.type = 'advanced' "
    "    AND OLD.status NOT IN ('pending_deletion', 'deleted', 'deletion_timed_out') "
    "    THEN 1 ELSE 0 END), "
    "  packs_version = packs_version + 1 "
    "WHERE id = OLD.zone_id; END;"
    /* Fires when any counter may move; each counter's own condition is in its CASE. */
    "CREATE TRIGGER packs_zone_update AFTER UPDATE OF status, type, zone_id, created_on, id "
    "ON packs "
    "WHEN OLD.status <> NEW.status OR OLD.type <> NEW.type OR OLD.zone_id <> NEW.zone_id "
    "OR OLD.created_on <> NEW.created_on OR OLD.id <> NEW.id "
    "BEGIN UPDATE zones SET "
    "  live_packs = live_packs + (CASE WHEN id <> NEW.zone_id "
    "    OR (OLD.status = 'deleted') = (NEW.status = 'deleted') THEN 0 "
    "    WHEN NEW.status = 'deleted' THEN -1 ELSE 1 END), "
    "  active_packs = active_packs + (CASE WHEN id <> NEW.zone_id "
    "    OR (OLD.status = 'active') = (NEW.status = 'active') THEN 0 "
    "    WHEN NEW.status = 'active' THEN 1 ELSE -1 END), "
    "  advanced_used = advanced_used + (CASE WHEN id <> NEW.zone_id "
    "    OR (OLD.type = 'advanced' "
    "      AND OLD.status NOT IN ('pending_deletion', 'deleted', 'deletion_timed_out')) = "
    "    (NEW.type = 'advanced' "
    "      AND NEW.status NOT IN ('pending_deletion', 'deleted', 'deletion_timed_out')) "
    "    THEN 0 WHEN NEW.type = 'advanced' "
    "      AND NEW.status NOT IN ('pending_deletion', 'deleted', 'deletion_timed_out') "
    "    THEN 1 ELSE -1 END), "
    "  packs_version = packs_version + (CASE WHEN OLD.status <> NEW.status "
    "    OR OLD.zone_id <> NEW.zone_id OR OLD.created_on <> NEW.created_on "
    "    OR OLD.id <> NEW.id THEN 1 ELSE 0 END) "
    "WHERE id = OLD.zone_id OR id = NEW.zone_id; END;",
};

int store_sqlite_schema_latest(void)
{
    return (int)(sizeof migrations / sizeof migrations[0]);
}

const char *store_sqlite_migration_sql(int version)
{
    assert(version >= 1 && version <= store_sqlite_schema_latest());
    return migrations[version - 1];
}
