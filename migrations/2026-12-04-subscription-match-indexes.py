"""Replace the subscription index that covered two array fields.

Why: the first index set had one compound index over both ``match_makes`` and ``match_models``. MongoDB
refuses to index two arrays of one document together ("cannot index parallel arrays"), so every
subscription insert would fail on a real server. One index per array replaces it (created from the models'
meta right after this script).
"""

from pymongo.database import Database

OLD_INDEX = "is_active_1_match_makes_1_match_models_1"


def migrate(db: Database) -> None:
    if OLD_INDEX in db.subscriptions.index_information():
        db.subscriptions.drop_index(OLD_INDEX)
