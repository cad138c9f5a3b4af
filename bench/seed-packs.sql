-- Seeds certificate packs straight into a stopped server's SQLite store (bench/packs.sh):
--
--   sqlite3 -bail -cmd '.parameter set $count N' -cmd ".parameter set \$template 'PACK_ID'" \
--       DATA/tlsward.db < bench/seed-packs.sql
--
-- Adds $count copies of the pack $template (a real pack the server issued and made active)
-- to the same zone, in one transaction: each copy gets a new random id, status 'active',
-- certificate generation 1 and version 0, the template's JSON texts (hosts, validation and
-- delegation records, errors), and created_on after every pack already stored (one
-- microsecond apart, so the copies come last in list order), with the template's
-- status_since/modified_on offsets. Each copy also gets the template's current
-- certificates (an ECDSA and an RSA one: chain, sealed key, dates) under new ids and new
-- random serials, and a copy of the template's job (the renewal at its due time), as the
-- worker leaves an active pack. Columns as in src/store/migrations.c (migration 3) and
-- src/store/sqlite_packs.c.
PRAGMA synchronous = OFF; -- a throw-away benchmark store: no fsync while seeding
PRAGMA cache_size = -262144;
BEGIN;
CREATE TEMP TABLE seed AS
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $count)
  SELECT i, lower(hex(randomblob(16))) AS id FROM n;
INSERT INTO packs (id, zone_id, type, status, status_since, certificate_authority,
    validation_method, validity_days, cloudflare_branding, hosts, validation_records,
    validation_errors, dcv_delegation_records, check_failures, renewal_failures,
    cert_generation, version, created_on, modified_on)
  SELECT s.id, t.zone_id, t.type, 'active', b.t0 + s.i + (t.status_since - t.created_on),
    t.certificate_authority, t.validation_method, t.validity_days, t.cloudflare_branding,
    t.hosts, t.validation_records, t.validation_errors, t.dcv_delegation_records, 0, 0, 1, 0,
    b.t0 + s.i, b.t0 + s.i + (t.modified_on - t.created_on)
  FROM seed s, packs t, (SELECT max(created_on) AS t0 FROM packs) b
  WHERE t.id = $template AND t.status = 'active';
INSERT INTO pack_certificates (id, pack_id, generation, priority, key_type, signature, issuer,
    serial, chain_pem, key_sealed, not_before, expires_on, uploaded_on, modified_on)
  SELECT lower(hex(randomblob(16))), s.id, 1, c.priority, c.key_type, c.signature, c.issuer,
    lower(hex(randomblob(20))), c.chain_pem, c.key_sealed, c.not_before, c.expires_on,
    c.uploaded_on, c.modified_on
  FROM seed s, packs t, pack_certificates c
  WHERE t.id = $template AND c.pack_id = t.id AND c.generation = t.cert_generation;
INSERT INTO jobs (kind, target, next_run_at, attempts, lease_owner, lease_until, rerun,
    created_on)
  SELECT j.kind, s.id, j.next_run_at, 0, '', 0, 0, p.created_on
  FROM seed s JOIN packs p ON p.id = s.id, jobs j
  WHERE j.target = $template;
-- A missing or inactive template must not pass silently: fail the CHECK (and, with -bail,
-- leave the transaction uncommitted).
CREATE TEMP TABLE seeded (ok INTEGER NOT NULL CHECK (ok));
INSERT INTO seeded
  SELECT (SELECT count(*) FROM packs WHERE id IN (SELECT id FROM seed)) = $count
     AND (SELECT count(*) FROM pack_certificates WHERE pack_id IN (SELECT id FROM seed)) > 0;
COMMIT;
