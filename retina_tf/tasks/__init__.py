"""Model Garden tasks registered with task_factory."""
