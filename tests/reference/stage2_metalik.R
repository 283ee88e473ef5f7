# Skovgaard-corrected profile likelihood against the implementation of the method's author:
# the R package metaLik 0.43.0 (Guolo & Varin 2012, J Stat Softw 50(7); Guolo 2012,
# Stat Med 31:313-327, the paper that brought Skovgaard's statistic to meta-analysis).
#
# Run from the repository root:
#     Rscript tests/reference/stage2_metalik.R
# It writes tests/reference/stage2_metalik.json, read by tests/test_meta_reference.py (no R
# there).  Requires: metaLik 0.43.0 (CRAN), metafor 3.8.1, jsonlite.
#
# Data: metaLik's own example data sets (vaccine = BCG trials, diuretics = pre-eclampsia,
# education, cholesterol), intercept-only models, y and sigma2 as shipped with metaLik; they
# are written into the JSON.
#
# Numbers: test.metaLik() evaluates r and r* on a grid of 18 points and reads the value at
# mu = 0 off a smoothing spline, and fits tau2 with optimize()'s default tolerance; that is
# accurate to about 1e-3 only.  So the reference is metaLik's own formulas evaluated
# exactly: the log-likelihood, J (observed), I (expected), Skovgaard's S and q come from
# metaLik:::.likTerms(), u is metaLik's .computeU() expression (copied from the package,
# which defines it inside .profLik()), and the maximum-likelihood fits use metafor
# (threshold 1e-12) and optimize(tol = 1e-14) on the profile in tau2.  The interval is
# {mu : |r*(mu)| <= z} by uniroot(tol = 1e-13).  test.metaLik()'s spline values are kept
# as well (compared to 1e-3).

suppressPackageStartupMessages({
  library(metaLik)
  library(metafor)
  library(jsonlite)
})
source(file.path("tests", "reference", "write_json.R"))

ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)

skovgaard_record <- function(name, level = 0.95) {
  data(list = name, package = "metaLik", envir = environment())
  d <- get(name)
  y <- if (name == "cholesterol") d$heart_disease else d$y  # cholesterol names its outcome
  s2 <- d$sigma2; X <- matrix(1, length(y), 1)
  terms <- metaLik:::.likTerms(y, X, s2)
  ml <- rma(y, s2, method = "ML", control = ctrl)
  b_hat <- as.numeric(ml$b); t2_hat <- ml$tau2
  constrained_tau2 <- function(mu) {
    prof <- function(t2) terms$lik(mu, t2)
    upper <- max((y - mu)^2)
    grid <- seq(0, upper, length.out = 2001)
    start <- grid[which.max(sapply(grid, prof))]
    step <- upper / 2000
    best <- optimize(prof, c(max(0, start - step), start + step), maximum = TRUE,
                     tol = 1e-14)
    if (prof(0) >= best$objective) 0 else best$maximum
  }
  # metaLik's u (the body of .computeU in metaLik 0.43.0's .profLik)
  u_of <- function(mu, t2c) {
    S <- terms$Smatrix(b_hat, t2_hat, mu, t2c)
    q <- terms$qvect(b_hat, t2_hat, mu, t2c)
    A <- abs(solve(S) %*% q)[1]
    B <- abs(det(terms$Jmatrix(b_hat, t2_hat)))^0.5
    C <- abs(det(solve(terms$Imatrix(b_hat, t2_hat))))
    D <- abs(det(S))
    E <- abs(det(as.matrix(terms$Jmatrix(mu, t2c)[-1, -1])))^(-0.5)
    sign(b_hat - mu) * A * B * C * D * E
  }
  stats_at <- function(mu) {
    t2c <- constrained_tau2(mu)
    lrt <- 2 * (terms$lik(b_hat, t2_hat) - terms$lik(mu, t2c))
    r <- sign(b_hat - mu) * sqrt(lrt)
    u <- u_of(mu, t2c)
    c(r = r, rskov = r + log(u / r) / r)
  }
  z <- qnorm(1 - (1 - level) / 2)
  se <- as.numeric(ml$se)
  bound <- function(target, from, to) uniroot(function(m) stats_at(m)[["rskov"]] - target,
                                              c(from, to), tol = 1e-13)$root
  at0 <- stats_at(0)
  package <- test.metaLik(metaLik(y ~ 1, sigma2 = s2), param = 1, print = FALSE)
  list(data = name, y = y, vi = s2, level = level, mu_ml = b_hat, tau2_ml = t2_hat,
       r_at_0 = at0[["r"]], rskov_at_0 = at0[["rskov"]],
       pvalue = 2 * pnorm(-abs(at0[["rskov"]])),
       ci_low = bound(z, b_hat - 8 * se, b_hat - 1e-4 * se),
       ci_high = bound(-z, b_hat + 1e-4 * se, b_hat + 8 * se),
       package_rskov_at_0 = package$rskov, package_pvalue = package$pvalue.rskov)
}

# albumin is left out: its tau2 MLE is 0, where Skovgaard's statistic is not defined (the
# boundary of the parameter space; metaLik then drops tau2 from J and I but not from S)
records <- lapply(c("vaccine", "diuretics", "education", "cholesterol"), skovgaard_record)
notes <- list(metaLik_version = as.character(packageVersion("metaLik")),
              metafor_version = as.character(packageVersion("metafor")),
              R_version = R.version.string, numbers = "17 significant digits")
write_reference(list(notes = notes, skovgaard = records),
                file.path("tests", "reference", "stage2_metalik.json"))
