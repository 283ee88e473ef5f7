# Shared by the reference scripts: write a nested list as JSON with every double at 17
# significant digits (sprintf("%.17g"), so it round-trips exactly); NA/NaN -> null,
# +-Inf -> +-1e999 (Python's json reads that as +-inf).  Vectors of length != 1 and
# I(...) values are written as arrays; logical scalars as true/false.
#     source(file.path("tests", "reference", "write_json.R"))
#     write_reference(list(...), file.path("tests", "reference", "x.json"))
# read_inputs() reads the data sets another reference script stored, so that two
# references see exactly the same numbers; real_data_sets() leaves out constructed ones.

fmt_num <- function(x) {
  x <- as.double(x)
  ifelse(is.na(x), "null",
         ifelse(is.infinite(x), ifelse(x > 0, "1e999", "-1e999"), sprintf("%.17g", x)))
}

to_json_tree <- function(x) {
  if (is.list(x) && !is.data.frame(x)) return(lapply(x, to_json_tree))
  asis <- inherits(x, "AsIs")
  if (is.factor(x)) x <- as.character(x)
  if (is.logical(x) && !asis && length(x) == 1) return(x)
  if (is.numeric(x)) {
    s <- fmt_num(x)
    if (asis || length(x) != 1) s <- paste0("[", paste(s, collapse = ","), "]")
    return(structure(s, class = "json"))
  }
  if (asis || length(x) != 1) {
    return(structure(as.character(jsonlite::toJSON(as.character(unclass(x)),
                                                   auto_unbox = FALSE)), class = "json"))
  }
  x
}

write_reference <- function(out, path) {
  jsonlite::write_json(to_json_tree(out), path, auto_unbox = TRUE, json_verbatim = TRUE,
                       pretty = TRUE, digits = NA, na = "null")
}

read_inputs <- function(name) {
  jsonlite::fromJSON(file.path("tests", "reference", name), simplifyVector = TRUE)$datasets
}

real_data_sets <- function(inputs) setdiff(names(inputs), "constructed_outlier")
