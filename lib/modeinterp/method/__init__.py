"""The paper's method: schedules and x0_hat, samplers, the trajectory-variance metric, detection, windows,
noise, the exact mixture score, denoisers and their training."""
