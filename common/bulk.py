"""Writing many rows with different values in one statement."""

from django.db import connection


def rows_update(model, fields: list[str], rows: list[tuple]) -> int:
    """`UPDATE table SET f = v.f, … FROM (VALUES (id, f…), …) AS v WHERE id = v.id`: each
    row of `rows` is (pk, *values of `fields`). `QuerySet.bulk_update` says the same with a
    CASE per field and row, which Django takes longer to build than the database to run
    (PostgreSQL, SQLite ≥ 3.33). Returns how many rows were updated."""
    if not rows:
        return 0
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column)
    sets, adapters = [], []
    for index, name in enumerate(fields, start=2):
        field = model._meta.get_field(name)
        value = f"v.column{index}"
        if connection.vendor == "postgresql":  # a column of NULLs would be text
            value = f"CAST({value} AS {field.db_type(connection)})"
        sets.append(f"{connection.ops.quote_name(field.column)} = {value}")
        adapters.append(lambda v, f=field: f.get_db_prep_save(v, connection))
    placeholders = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    params = []
    for row in rows:
        params.append(row[0])
        params.extend(adapt(value) for adapt, value in zip(adapters, row[1:], strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {', '.join(sets)} FROM (VALUES "
            f"{', '.join([placeholders] * len(rows))}) AS v WHERE {table}.{pk} = v.column1",
            params,
        )
        return cursor.rowcount
