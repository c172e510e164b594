// Creates (or updates) the Cargwin application role and user in MongoDB. Idempotent.
//
// Run by the mongo image on the first start of an empty data volume (mounted into
// /docker-entrypoint-initdb.d/), as the root user. Run it again after adding a collection to
// WRITABLE_COLLECTIONS, with the same environment variables:
//   docker compose --env-file deploy/.env.production -f deploy/docker-compose.yml exec mongo \
//     sh -c 'mongosh --quiet -u "$MONGO_INITDB_ROOT_USERNAME" -p "$MONGO_INITDB_ROOT_PASSWORD" \
//            --authenticationDatabase admin /docker-entrypoint-initdb.d/10-cargwin.js'
// On a host without docker, run the same mongosh command with MONGO_APP_* exported.
//
// Why a custom role instead of readWrite: the audit log is append-only (business rules, section 11), so the
// application user may read and insert audit_logs but never update, delete, drop or rename it. MongoDB
// privileges only add up (there is no "deny"), so update/remove are granted collection by collection, and
// a collection missing from WRITABLE_COLLECTIONS fails loudly ("not authorized ... update") instead of
// silently gaining rights over the audit log. tests/deploy checks this list against app.models.
//
// Environment: MONGO_APP_DB (default cargwin), MONGO_APP_USER (default cargwin), MONGO_APP_PASSWORD.

const AUDIT_COLLECTION = "audit_logs";

// Every collection the application updates or deletes from. Never add AUDIT_COLLECTION.
const WRITABLE_COLLECTIONS = [
  "users",
  "lots",
  "lot_slug_redirects",
  "lot_price_history",
  "applications",
  "reservations",
  "subscriptions",
  "appointments",
  "customer_documents",
  "pickup_bookings",
  "leads",
  "consent_records",
  "notifications",
  "preview_tokens",
  "magic_link_tokens",
  "app_settings",
  "alert_deliveries",
  "alert_daily_counts",
  "scrape_runs",
  "scraped_offers",
  "migrations",
];

// Allowed on every collection of the database, the audit log included: reading, inserting and managing
// indexes (index changes do not alter documents).
const DATABASE_ACTIONS = [
  "find",
  "insert",
  "createCollection",
  "createIndex",
  "dropIndex",
  "listIndexes",
  "listCollections",
  "collStats",
  "dbStats",
  "dbHash",
  "killCursors",
  "changeStream",
  "planCacheRead",
];

// The rest of the built-in readWrite role, granted only on WRITABLE_COLLECTIONS.
const WRITE_ACTIONS = [
  "update",
  "remove",
  "dropCollection",
  "renameCollectionSameDB",
  "convertToCapped",
  "bypassDocumentValidation",
];

function cargwinRolePrivileges(dbName) {
  if (WRITABLE_COLLECTIONS.includes(AUDIT_COLLECTION)) {
    throw new Error(`${AUDIT_COLLECTION} must stay append-only`);
  }
  const privileges = [{ resource: { db: dbName, collection: "" }, actions: DATABASE_ACTIONS }];
  for (const collection of WRITABLE_COLLECTIONS) {
    privileges.push({ resource: { db: dbName, collection }, actions: WRITE_ACTIONS });
  }
  return privileges;
}

function ensureCargwinUser() {
  const dbName = process.env.MONGO_APP_DB || "cargwin";
  const userName = process.env.MONGO_APP_USER || "cargwin";
  const password = process.env.MONGO_APP_PASSWORD;
  if (!password) {
    throw new Error("MONGO_APP_PASSWORD is not set");
  }

  const appDb = db.getSiblingDB(dbName);
  const roleName = "cargwinApp";
  const privileges = cargwinRolePrivileges(dbName);
  if (appDb.getRole(roleName)) {
    appDb.updateRole(roleName, { privileges, roles: [] });
  } else {
    appDb.createRole({ role: roleName, privileges, roles: [] });
  }

  const roles = [{ role: roleName, db: dbName }];
  if (appDb.getUser(userName)) {
    appDb.updateUser(userName, { pwd: password, roles });
  } else {
    appDb.createUser({ user: userName, pwd: password, roles });
  }
  print(`cargwin: role ${roleName} and user ${userName} ready in database ${dbName}`);
}

ensureCargwinUser();
