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
write_json(list(R = R.version.string, survival = format(packageVersion("survival")),
                events = sum(back$status), n = nrow(back), coxph_strata = out),
           "tests/reference/onestage_coxme.json", digits = NA, auto_unbox = TRUE)
cat("events", sum(back$status), "n", nrow(back), "\n")
