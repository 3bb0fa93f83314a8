//! Finding the files to watch: roots, filters, ignore files, directory listings.
