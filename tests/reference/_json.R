# JSON writer and CSV round trip shared by the reference scripts of the stage-1 families.
# Numbers are written with 17 significant digits; NA / NaN / Inf become null.

arr <- function(x) structure(list(x), class = "jarray")          # force an array
num <- function(x) ifelse(is.na(x) | !is.finite(x), "null", sprintf("%.17g", x))
to_json <- function(x) {
  if (inherits(x, "jarray")) {
    v <- x[[1]]
    if (is.matrix(v)) return(paste0("[", paste(apply(v, 1, function(r) to_json(arr(r))),
                                               collapse = ","), "]"))
    if (is.character(v)) return(paste0("[", paste(sprintf("\"%s\"", v), collapse = ","), "]"))
    return(paste0("[", paste(num(v), collapse = ","), "]"))
  }
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!is.null(names(x))) {
      items <- mapply(function(k, v) paste0("\"", k, "\":", to_json(v)), names(x), x)
      return(paste0("{", paste(items, collapse = ","), "}"))
    }
    return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
  }
  if (is.logical(x) && length(x) == 1) return(if (is.na(x)) "null" else tolower(x))
  if (is.character(x) && length(x) == 1) return(sprintf("\"%s\"", gsub("\"", "\\\\\"", x)))
  if (is.numeric(x) && length(x) == 1) return(num(x))
  to_json(arr(x))
}

# Write a data frame (first column: cluster, as text) with 17 significant digits to
# tests/reference/data/<file> and read it back, so R and Python fit the same numbers.
roundtrip_frame <- function(df, file, data_dir = "tests/reference/data") {
  df$cluster <- as.character(df$cluster)
  fmt <- df
  for (k in names(fmt)) if (is.numeric(fmt[[k]])) fmt[[k]] <- sprintf("%.17g", fmt[[k]])
  path <- file.path(data_dir, file)
  write.csv(fmt, path, row.names = FALSE, quote = TRUE)
  back <- read.csv(path, check.names = FALSE, colClasses = c(cluster = "character"))
  list(path = paste0("data/", file), data = back)
}
