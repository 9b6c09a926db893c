"""Command handlers, one module per aggregate, each ending with its `AggregateWiring`.

Importing this package registers nothing: `payledger.bootstrap` lists the wirings and
derives what each application runs.
"""
