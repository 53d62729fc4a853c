"""The service's store: stored workflows and their versions, run records, API keys.

:class:`~flov7.store.database.Database` opens (and migrates) the database;
:class:`~flov7.store.repository.Repository` is the only way in.
"""
