# Data for the one-stage Cox test against a published coxme fit.
#
# coxme's own test file tests/slope1.R (coxme 2.2-22; printed output in
# tests/slope1.Rout.save) simulates 9 institutions with a random treatment effect and fits
#   coxme(Surv(time, status) ~ age + trt + (trt | inst) + strata(inst), simdata)
# The printed values (fixed effects, se, BLUPs, variance, three log-likelihoods) are
# quoted in tests/onestage/test_cox.py.  This script regenerates the same data from the
# published recipe (R's default RNG, seed 56; 180, 201, ..., 348 subjects; true log
# hazard ratios sort(-0.5 + N(0, 0.5^2)); age uniform on 40-70 with log HR 0.03 per year
# about 55; exponential event times with rate 0.8 exp(lp); censoring uniform on 1-2)
# and adds survival::coxph with strata(inst) (tau = 0) as a second reference.
#
# Run from the repository root:   Rscript tests/reference/onestage_coxme.R

suppressPackageStartupMessages({ library(survival); library(jsonlite) })
set.seed(56)
sizes <- seq(180, by = 21, length.out = 9)
true_lhr <- sort(-0.5 + rnorm(9, sd = 0.5))
inst <- rep(1:9, sizes)
n <- length(inst)
d <- data.frame(id = 1:n, inst = inst, trt = rep(0:1, length.out = n),
                age = runif(n, 40, 70))
rate <- 0.8 * exp(d$trt * rep(true_lhr, sizes) + (d$age - 55) * 0.03)
event_time <- rexp(n, rate = rate)
censor_time <- runif(n, 1, 2)
d$time <- pmin(event_time, censor_time)
d$status <- as.integer(event_time <= censor_time)

path <- "tests/reference/data/onestage_coxme_slope.csv"
fmt <- d
for (k in c("age", "time")) fmt[[k]] <- sprintf("%.17g", fmt[[k]])
write.csv(fmt, path, row.names = FALSE, quote = FALSE)
back <- read.csv(path)

out <- list()
for (ties in c("efron", "breslow")) {
  f <- coxph(Surv(time, status) ~ age + trt + strata(inst), back, ties = ties,
             control = coxph.control(eps = 1e-12, toler.chol = 1e-15, iter.max = 100))
  out[[ties]] <- list(coef = unname(coef(f)), se = unname(sqrt(diag(vcov(f)))),
                      loglik = unname(f$loglik), names = names(coef(f)))
}
# The penalised partial likelihood at a fixed tau with tied times (Efron and Breslow):
# survival::coxph with a ridge penalty (theta = 1 / tau^2, unscaled) on the trial-by-
# treatment columns is the coxme inner problem, PPL = log PL - sum(b^2) / (2 tau^2).
# Its var is the inverse penalised information, so the Laplace log integrated partial
# likelihood follows as log PL(b) - penalty - 1/2 sum log(1 + tau^2 I_bb) with
# I_bb = diag(solve(var))[b] - 1 / tau^2.  Data: the bundled hypertension trials.
hyp <- read.csv("src/ipdmeta/datasets/hypertension.csv")
trials <- sort(unique(hyp$trial))
for (j in seq_along(trials)) hyp[[paste0("b", j)]] <- hyp$treat * (hyp$trial == trials[j])
bnames <- paste0("b", seq_along(trials))
ppl <- list()
ctrl <- coxph.control(eps = 1e-12, toler.chol = 1e-15, iter.max = 200)
for (ties in c("efron", "breslow")) {
  s0 <- coxph(Surv(time, event) ~ treat + age + strata(trial), hyp, ties = ties,
              control = ctrl)
  for (tau in c(0.1, 0.3)) {
    f <- as.formula(paste("Surv(time, event) ~ treat + age + strata(trial) + ridge(",
                          paste(bnames, collapse = ", "), ", theta =", 1 / tau^2,
                          ", scale = FALSE)"))
    fit <- coxph(f, hyp, ties = ties, control = ctrl)
    H <- solve(fit$var)
    ib <- seq_along(trials) + 2
    Ibb <- diag(H)[ib] - 1 / tau^2
    b <- unname(coef(fit)[ib])
    laplace <- fit$loglik[2] - sum(b^2) / (2 * tau^2) - 0.5 * sum(log1p(tau^2 * Ibb))
    ppl[[length(ppl) + 1]] <- list(
      ties = ties, tau = tau, coef = unname(coef(fit)[1:2]), b = b,
      se = unname(sqrt(diag(fit$var))[1:2]), se_b = unname(sqrt(diag(fit$var))[ib]),
      loglik_pl = fit$loglik[2], laplace = laplace)
  }
  ppl[[length(ppl) + 1]] <- list(ties = ties, tau = 0, coef = unname(coef(s0)),
                                 se = unname(sqrt(diag(vcov(s0)))), loglik_pl = s0$loglik[2],
                                 laplace = s0$loglik[2])
}

write_json(list(R = R.version.string, survival = format(packageVersion("survival")),
                events = sum(back$status), n = nrow(back), coxph_strata = out,
                hypertension_ppl = ppl, trials = trials),
           "tests/reference/onestage_coxme.json", digits = NA, auto_unbox = TRUE)
cat("events", sum(back$status), "n", nrow(back), "\n")
