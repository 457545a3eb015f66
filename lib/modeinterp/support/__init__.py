"""Support: parameter checks, seeds and threads, processes, atomic files, claims files."""
