"""The program's rules and maths: pure functions (no store, no chain, no HTTP), fed by the store in
production and by plain data in tests. Imports nothing of gateway/, network/ or coalition/."""
