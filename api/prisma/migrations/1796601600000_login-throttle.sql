-- Up Migration
-- Failed-login counters, shared by every API task: rate-limiter-flexible's RateLimiterPostgres table
-- (auth.service.ts). `expire` is in ms since the epoch; rows an hour past it are deleted by the limiter.
CREATE TABLE app.login_throttle (
  key    varchar(255) PRIMARY KEY,
  points integer NOT NULL DEFAULT 0,
  expire bigint
);

-- Down Migration
DROP TABLE app.login_throttle;
