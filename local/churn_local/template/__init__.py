"""The template as CloudFormation sees it: the offline expansion, what SAM decided from it, the image mapping."""
